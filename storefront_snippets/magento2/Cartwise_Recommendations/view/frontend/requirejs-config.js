/**
 * The cart block's component under a short name (used by recommendations.phtml).
 */
var config = {
    map: {
        '*': {
            cartwiseRecommendations: 'Cartwise_Recommendations/js/recommendations'
        }
    }
};
